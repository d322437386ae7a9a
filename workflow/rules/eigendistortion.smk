rule eigendistortion:
    input:
        image=f"{RESULTS}/images/{{image}}.zarr",
        model=f"{RESULTS}/models/{{model}}.model",
    output:
        directory(f"{RESULTS}/eigendistortion/{{image}}/{{model}}.zarr"),
    params:
        options=lambda wc: cli_options(settings(config, "eigendistortion")),
        code=code("eigendistortion:synthesize_eigendistortion"),
    threads: 1
    resources:
        gpu=synthesis_gpus(config["eigendistortion"]["device"]),
    log:
        f"{RESULTS}/logs/eigendistortion/{{image}}/{{model}}.log",
    shell:
        "OMP_NUM_THREADS={threads} pipeline synthesize eigendistortion "
        "{input.image:q} {input.model:q} {output:q} {params.options} --quiet 2> {log:q}"


rule render_eigendistortions:
    input:
        lambda wc: [
            f"{RESULTS}/eigendistortion/{wc.image}/{model}.zarr"
            for image, model in runs(config, "eigendistortion")
            if image == wc.image
        ],
    output:
        figure(
            f"{RESULTS}/figures/eigendistortion/{{image}}.png",
            "eigendistortions",
            "Eigendistortions",
        ),
    params:
        code=code("render:render_eigendistortions"),
    log:
        f"{RESULTS}/logs/figures/eigendistortion/{{image}}.log",
    shell:
        "pipeline render eigendistortions {input:q} --out {output:q} 2> {log:q}"

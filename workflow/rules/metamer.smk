if config["metamer"]["batch"]:

    # all metamers of one model in one batched synthesis (one store per image)
    rule metamer_batch:
        input:
            images=[f"{RESULTS}/images/{image}.zarr" for image in METAMER_IMAGES],
            model=f"{RESULTS}/models/{{model}}.model",
        output:
            [
                directory(f"{RESULTS}/metamer/{image}/{{model}}.zarr")
                for image in METAMER_IMAGES
            ],
        params:
            runs=lambda wc: shlex.join(
                word
                for image in METAMER_IMAGES
                for word in (
                    "--run",
                    f"{RESULTS}/images/{image}.zarr",
                    f"{RESULTS}/metamer/{image}/{wc.model}.zarr",
                )
            ),
            options=lambda wc: cli_options(metamer_settings(config, wc.model)),
            code=code("metamer:synthesize_metamer_batch"),
        threads: 1
        resources:
            gpu=lambda wc: synthesis_gpus(metamer_settings(config, wc.model)["device"]),
        log:
            f"{RESULTS}/logs/metamer/batch_{{model}}.log",
        shell:
            "OMP_NUM_THREADS={threads} pipeline synthesize metamer-batch "
            "{input.model:q} {params.runs} {params.options} 2> {log:q}"

else:

    rule metamer:
        input:
            image=f"{RESULTS}/images/{{image}}.zarr",
            model=f"{RESULTS}/models/{{model}}.model",
        output:
            directory(f"{RESULTS}/metamer/{{image}}/{{model}}.zarr"),
        params:
            options=lambda wc: cli_options(metamer_settings(config, wc.model)),
            code=code("metamer:synthesize_metamer"),
        threads: 1
        resources:
            gpu=lambda wc: synthesis_gpus(metamer_settings(config, wc.model)["device"]),
        log:
            f"{RESULTS}/logs/metamer/{{image}}/{{model}}.log",
        shell:
            "OMP_NUM_THREADS={threads} pipeline synthesize metamer "
            "{input.image:q} {input.model:q} {output:q} {params.options} 2> {log:q}"


# one job per model draws the status figure of each of its metamers
rule render_metamer_status:
    input:
        [f"{RESULTS}/metamer/{image}/{{model}}.zarr" for image in METAMER_IMAGES],
    output:
        [
            figure(
                f"{RESULTS}/figures/metamer/{image}/{{model}}_status.png",
                "metamer_status",
                "Metamers",
                "Synthesis status",
            )
            for image in METAMER_IMAGES
        ],
    params:
        outs=lambda wc, output: " ".join(f"--out {shlex.quote(o)}" for o in output),
        code=code("render:render_status"),
    log:
        f"{RESULTS}/logs/figures/metamer/{{model}}_status.log",
    shell:
        "pipeline render status {input:q} {params.outs} 2> {log:q}"

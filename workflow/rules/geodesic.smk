rule geodesic:
    input:
        a=lambda wc: f"{RESULTS}/images/{config['geodesic']['pairs'][wc.pair]['a']}.zarr",
        b=lambda wc: f"{RESULTS}/images/{config['geodesic']['pairs'][wc.pair]['b']}.zarr",
        model=f"{RESULTS}/models/{{model}}.model",
    output:
        directory(f"{RESULTS}/geodesic/{{pair}}/{{model}}.zarr"),
    params:
        options=lambda wc: cli_options(settings(config, "geodesic")),
        code=code("geodesic:synthesize_geodesic"),
    threads: 1
    resources:
        gpu=synthesis_gpus(config["geodesic"]["device"]),
    log:
        f"{RESULTS}/logs/geodesic/{{pair}}/{{model}}.log",
    shell:
        "OMP_NUM_THREADS={threads} pipeline synthesize geodesic {input.a:q} {input.b:q} "
        "{input.model:q} {output:q} {params.options} --quiet 2> {log:q}"


rule render_geodesic:
    input:
        f"{RESULTS}/geodesic/{{pair}}/{{model}}.zarr",
    output:
        figure(f"{RESULTS}/figures/geodesic/{{pair}}/{{model}}.png", "geodesic", "Geodesics"),
    params:
        code=code("render:render_geodesic"),
    log:
        f"{RESULTS}/logs/figures/geodesic/{{pair}}/{{model}}.log",
    shell:
        "pipeline render geodesic {input:q} --out {output:q} 2> {log:q}"


rule render_geodesic_deviation:
    input:
        lambda wc: [
            f"{RESULTS}/geodesic/{wc.pair}/{model}.zarr"
            for pair, model in runs(config, "geodesic")
            if pair == wc.pair
        ],
    output:
        figure(
            f"{RESULTS}/figures/geodesic/{{pair}}_deviation.png",
            "geodesic_deviation",
            "Geodesics",
        ),
    params:
        code=code("render:render_geodesic_deviation"),
    log:
        f"{RESULTS}/logs/figures/geodesic/{{pair}}_deviation.log",
    shell:
        "pipeline render geodesic-deviation {input:q} --out {output:q} 2> {log:q}"

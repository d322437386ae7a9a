rule mad:
    input:
        image=lambda wc: f"{RESULTS}/images/{config['mad']['sets'][wc.set]['image']}.zarr",
        models=lambda wc: [
            metric_argument(m) for m in mad_metric_pair(config, wc.set, wc.optimized) if m not in MAD_METRICS
        ],
    output:
        directory(f"{RESULTS}/mad/{{set}}/{{optimized}}_{{minmax}}.zarr"),
    params:
        options=lambda wc: cli_options(
            {
                **mad_settings(config, wc.set, wc.optimized, wc.minmax),
                "optimized_metric": metric_argument(mad_metric_pair(config, wc.set, wc.optimized)[0]),
                "reference_metric": metric_argument(mad_metric_pair(config, wc.set, wc.optimized)[1]),
            }
        ),
        code=code("mad:synthesize_mad"),
    threads: 1
    resources:
        gpu=lambda wc: synthesis_gpus(
            mad_settings(config, wc.set, wc.optimized, wc.minmax)["device"]
        ),
    log:
        f"{RESULTS}/logs/mad/{{set}}/{{optimized}}_{{minmax}}.log",
    shell:
        "OMP_NUM_THREADS={threads} pipeline synthesize mad "
        "{input.image:q} {output:q} {params.options} 2> {log:q}"


rule render_mad_set:
    input:
        lambda wc: mad_set_stores(wc.set),
    output:
        figure(f"{RESULTS}/figures/mad/{{set}}_set.png", "mad_set", "MAD competition"),
    params:
        code=code("render:render_mad_set"),
    log:
        f"{RESULTS}/logs/figures/mad/{{set}}_set.log",
    shell:
        "pipeline render mad-set {input:q} --out {output:q} 2> {log:q}"


rule render_mad_trajectories:
    input:
        lambda wc: mad_set_stores(wc.set),
    output:
        figure(
            f"{RESULTS}/figures/mad/{{set}}_trajectories.png",
            "mad_trajectories",
            "MAD competition",
        ),
    params:
        code=code("render:render_mad_trajectories"),
    log:
        f"{RESULTS}/logs/figures/mad/{{set}}_trajectories.log",
    shell:
        "pipeline render mad-trajectories {input:q} --out {output:q} 2> {log:q}"

rule texture_metamer:
    input:
        image=f"{RESULTS}/images/{{image}}.zarr",
        model=f"{RESULTS}/models/{{model}}.model",
    output:
        directory(f"{RESULTS}/texture/{{image}}/{{model}}.zarr"),
    params:
        options=cli_options(settings(config, "texture")),
        code=code("metamer:synthesize_metamer"),
    threads: 1
    resources:
        gpu=synthesis_gpus(config["texture"]["device"]),
    log:
        f"{RESULTS}/logs/texture/{{image}}/{{model}}.log",
    shell:
        "OMP_NUM_THREADS={threads} pipeline synthesize metamer "
        "{input.image:q} {input.model:q} {output:q} {params.options} 2> {log:q}"


rule render_texture_grid:
    input:
        TEXTURE_STORES,
    output:
        figure_outputs(f"{RESULTS}/figures/texture_grid", "texture_grid", "Textures"),
    params:
        outs=lambda wc, output: " ".join(f"--out {shlex.quote(o)}" for o in output),
        code=code("render:render_metamer_grid"),
    log:
        f"{RESULTS}/logs/figures/texture_grid.log",
    shell:
        "pipeline render metamer-grid {input:q} {params.outs} 2> {log:q}"


rule render_texture_representation_error:
    input:
        store=f"{RESULTS}/texture/{{image}}/{{model}}.zarr",
        model=f"{RESULTS}/models/{{model}}.model",
    output:
        figure(
            f"{RESULTS}/figures/texture/{{image}}/{{model}}_representation_error.png",
            "texture_representation_error",
            "Textures",
        ),
    params:
        code=code("render:render_representation_error"),
    log:
        f"{RESULTS}/logs/figures/texture/{{image}}/{{model}}_representation_error.log",
    shell:
        "pipeline render representation-error {input.store:q} {input.model:q} "
        "--out {output:q} 2> {log:q}"


rule render_texture_scale_losses:
    input:
        f"{RESULTS}/texture/{{image}}/{{model}}.zarr",
    output:
        figure(
            f"{RESULTS}/figures/texture/{{image}}/{{model}}_scale_losses.png",
            "texture_scale_losses",
            "Textures",
        ),
    params:
        code=code("render:render_scale_losses"),
    log:
        f"{RESULTS}/logs/figures/texture/{{image}}/{{model}}_scale_losses.log",
    shell:
        "pipeline render scale-losses {input:q} --out {output:q} 2> {log:q}"

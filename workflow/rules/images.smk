rule prepare_image:
    output:
        directory(f"{RESULTS}/images/{{image}}.zarr"),
    params:
        source=lambda wc: config["images"][wc.image]["source"],
        options=lambda wc: cli_options(
            {
                "size": config["images"][wc.image]["size"],
                "name": wc.image,
                "shift": config["images"][wc.image]["shift"],
                "rotate": config["images"][wc.image]["rotate"],
            }
        ),
        code=code("images:prepare_image"),
    log:
        f"{RESULTS}/logs/images/{{image}}.log",
    shell:
        "pipeline prepare-images {params.source:q} {output:q} {params.options} 2> {log:q}"

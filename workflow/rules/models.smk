rule build_model:
    output:
        f"{RESULTS}/models/{{model}}.model",
    params:
        cls=lambda wc: config["models"][wc.model]["class"],
        arguments=lambda wc: shlex.join(
            word
            for key, value in sorted(config["models"][wc.model]["params"].items())
            for word in ("--param", f"{key}={canonical(value)}")
        ),
        code=lambda wc: model_code(wc.model),
    log:
        f"{RESULTS}/logs/models/{{model}}.log",
    shell:
        "pipeline build-model {params.cls:q} {output:q} {params.arguments} 2> {log:q}"

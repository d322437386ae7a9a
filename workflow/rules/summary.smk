rule aggregate:
    input:
        SYNTHESIS_STORES,
    output:
        report(SUMMARY, caption="../report/summary.rst", category="Summary"),
    params:
        code=code("aggregate:aggregate"),
    log:
        f"{RESULTS}/logs/aggregate.log",
    shell:
        "pipeline aggregate {input:q} --out {output:q} 2> {log:q}"


rule render_metamer_grid:
    input:
        METAMER_STORES,
    output:
        figure_outputs(f"{RESULTS}/figures/metamer_grid", "metamer_grid", "Metamers"),
    params:
        outs=lambda wc, output: " ".join(f"--out {shlex.quote(o)}" for o in output),
        code=code("render:render_metamer_grid"),
    log:
        f"{RESULTS}/logs/figures/metamer_grid.log",
    shell:
        "pipeline render metamer-grid {input:q} {params.outs} 2> {log:q}"


rule render_metamer_losses:
    input:
        METAMER_STORES,
    output:
        figure_outputs(f"{RESULTS}/figures/metamer_losses", "metamer_losses", "Metamers"),
    params:
        outs=lambda wc, output: " ".join(f"--out {shlex.quote(o)}" for o in output),
        code=code("render:render_losses"),
    log:
        f"{RESULTS}/logs/figures/metamer_losses.log",
    shell:
        "pipeline render losses {input:q} {params.outs} 2> {log:q}"

# One target per figure set: `snakemake fig_metamers` runs only what those figures
# need. `snakemake --report report.html` (after a run) gathers every figure with its
# caption and the summary table into one HTML file.


rule fig_metamers:
    input:
        METAMER_FIGURES,


rule fig_textures:
    input:
        TEXTURE_FIGURES,


rule fig_mad:
    input:
        MAD_FIGURES,


rule fig_eigendistortions:
    input:
        EIGENDISTORTION_FIGURES,


rule fig_geodesics:
    input:
        GEODESIC_FIGURES,


rule summary:
    input:
        SUMMARY,

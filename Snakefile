# Model-based stimulus synthesis: images -> models -> syntheses -> summary -> figures.
# Every rule calls one `pipeline` CLI stage; this file and workflow/ only wire them.

# `snakemake --configfile my.yaml` uses my.yaml instead of config.yaml (the schema's
# defaults fill what it leaves out); without --configfile, config.yaml is the config.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/metamer.smk"
include: "workflow/rules/texture.smk"
include: "workflow/rules/mad.smk"
include: "workflow/rules/eigendistortion.smk"
include: "workflow/rules/geodesic.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        SUMMARY if SYNTHESIS_STORES else [],  # a config without syntheses: no summary
        METAMER_FIGURES,
        TEXTURE_FIGURES,
        MAD_FIGURES,
        EIGENDISTORTION_FIGURES,
        GEODESIC_FIGURES,


# On a cluster (profiles/slurm) only syntheses and model builds (which may need a GPU
# or much memory) are submitted; preparing images, the summary and figures run where
# snakemake runs: seconds each, less than a scheduler's queueing.
localrules:
    all,
    prepare_image,
    aggregate,
    render_metamer_grid,
    render_metamer_losses,
    render_metamer_status,
    render_texture_grid,
    render_texture_representation_error,
    render_texture_scale_losses,
    render_mad_set,
    render_mad_trajectories,
    render_eigendistortions,
    render_geodesic,
    render_geodesic_deviation,
    fig_metamers,
    fig_textures,
    fig_mad,
    fig_eigendistortions,
    fig_geodesics,
    summary,

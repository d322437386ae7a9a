# Model-based stimulus synthesis: images -> models -> syntheses -> summary -> figures.
# Every rule calls one `pipeline` CLI stage; this file and workflow/ only wire them.

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
        SUMMARY,
        METAMER_FIGURES,
        TEXTURE_FIGURES,
        MAD_FIGURES,
        EIGENDISTORTION_FIGURES,
        GEODESIC_FIGURES,

"""Defaults that the CLIs show in ``--help``: plain constants, so printing help imports nothing heavy."""

DEFAULT_CLIP = "openai/clip-vit-base-patch32"  # the CLIP a GPU box with Hub access embeds with
DEFAULT_HUB_DATASET = "ayesha111/dataset_jewellery1"  # the jewelry catalog the project was started on
CLUSTER_METHODS = ("depict", "kmeans", "umap-kmeans")  # jewelrec.clustering.METHODS has exactly these keys
ENCODERS = ("auto", "clip", "catalog-clip", "cnn")  # auto: pretrained CLIP → catalog CLIP (captions) → CNN
TRACKERS = ("none", "trackio", "wandb")  # experiment trackers the offline evaluation can log to
MAX_SEED = 2**32 - 1  # the largest seed numpy, scikit-learn and UMAP all accept

"""One file per family. The registry imports them on first use, which registers every model."""

FAMILIES = ("lenet", "alexnet", "vgg", "resnet", "inception", "mobilenet")

"""One file per family. The registry imports them on first use, which registers every model.

Adding a family is its file and its name here (a dotted module path for one outside the
package); see docs/models.md, "Adding a family"."""

# The case studies' own nets (study_*) are models too: any process that trains one builds it
# from here. `cnnzoo list` hides them unless asked.
FAMILIES = ("lenet", "alexnet", "vgg", "resnet", "inception", "mobilenet", "study_nets")

"""One module per architecture, each declaring its ``ARCH`` spec; the list of architectures is this
folder (:func:`napari_superres.models.spec.architectures`)."""

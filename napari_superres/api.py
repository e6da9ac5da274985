"""The public ``upscale``: open the source once, check the options once, then a lazy array (the
engine's plan) or a resumable write (the writer)."""

from __future__ import annotations

from .adapt import DEFAULT_SECONDS, adapt_for, drain
from .engine import UpscaleOptions, build
from .errors import SuperResError
from .io import open_input
from .labelled import axes_of, crs_of, is_data_array, nodata_of, wrap
from .writer import write


def upscale(
    image,
    model="default",
    scale=2,
    *,
    axes: str | None = None,
    normalize="auto",
    tile: int | None = None,
    device: str = "auto",
    consistency: bool | int = False,
    nodata=None,
    precision: str = "fp32",
    batch: int | None = None,
    degradation="auto",
    adapt=None,
    out=None,
    overwrite: bool = False,
    progress=None,
    scheduler=None,
):
    """Enlarge ``image`` with a super-resolution model, lazily and seam-free.

    Parameters
    ----------
    image : numpy, dask or zarr array, xarray DataArray, or path
        TIFF, zarr, OME-Zarr, PNG/JPEG path, or an array of any dimensionality.
    model : str or path
        Registry name (``"default"``, ``"espcn"``, ``"ibp"``, ``"bicubic"``) or ``.safetensors``.
    scale : float
        Enlargement of Y and X, above 1 and at most 8. A non-integer scale runs the next integer
        model, then resamples down with antialiasing.
    axes : str, optional
        Axis letters (``"YX"``, ``"ZYX"``, ``"TCZYX"``, ``"YXC"``); inferred when omitted.
    normalize : "auto", None or (lo, hi)
        ``"auto"``: uint8 / 255; other types mapped by global robust percentiles
        (0.1-99.9, per channel, from a fixed sample of windows) and mapped back after.
        ``None``: float values passed through unchanged (float32 out). ``(lo, hi)``: that range.
    tile : int, optional
        Tile (chunk) size in input pixels; each tile is read with a halo. Default 256, or
        8 halos for models with a wide receptive field.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    consistency : bool or int
        After the network, back-project onto the input (5 iterations, or this many) so that
        downscaling the result reproduces the input; the halo grows to keep tiling exact.
    nodata : number, optional
        The value of missing pixels (default: the file's GDAL_NODATA tag, if any). They are left
        out of the statistics, filled from the nearest valid pixel before the network (no ringing
        bleeds from them), and set back to ``nodata`` in the output (the mask enlarged by nearest
        neighbour); no valid output pixel equals ``nodata``.
    precision : "fp32", "bf16" or "fp16"
        Autocast the network to a 16-bit type (faster on GPUs; fp16 only there). Not bit-exact
        across tiles; the quality cost is measured in docs/benchmarks.md.
    batch : int, optional
        Up to this many tiles of concurrent tasks go through the network in one pass. Default:
        8 on a GPU, 1 on the CPU (where batching is slower, measured in docs/benchmarks.md).
    degradation : str, array or Degradation, optional
        How the image was made from the scene. ``"auto"`` (the default): estimated from the image
        (a few windows shrunk by each candidate): the model's weights for ``"bicubic"`` and
        ``"binning"`` blended, each weighted by how well it fits, or bicubic interpolation when the
        internal check expects no gain; a network with weights for one degradation only uses
        those. Or say it: ``"bicubic"`` (what benchmark photographs are), ``"binning"`` (a camera
        or detector integrating over its pixels), ``"gaussian:SIGMA"`` (an optical PSF of SIGMA
        output pixels, then binning; ``"gaussian:fwhm=F,pixel=P"`` from physics), a measured PSF
        (2-D array or .npy/.tif/.txt file), or None (the weights' own, as trained). Picks the
        model's weights trained for it and the back-projection operator; recorded in the output
        metadata. Why ``"auto"`` is the default: docs/real-data.md.
    adapt : float or True, optional
        First fine-tune the model on the image itself for up to this many seconds (True: 120), on
        pairs made from the image under ``degradation``; kept only when it does better on a part of
        the image held back from that training (:mod:`napari_superres.adapt`). With ``out``, the
        adapted weights are saved beside it (``OUT.adapted.safetensors``) and a rerun reuses them.
    out : path, optional
        Write an OME-Zarr there (resumable) and return the written level-0 zarr array.
    overwrite : bool
        Replace an existing output made with other settings.
    progress : callable, optional
        Called with a :class:`~napari_superres.events.Progress` event (``event.done`` of
        ``event.total`` chunks, ...; ``event["done"]`` works too) while writing.
    scheduler : dask.distributed Client or address, optional
        Where ``out`` is computed (default: the active Client, if any, else local threads).

    Returns
    -------
    dask.array.Array (lazy) or zarr.Array (with ``out``); for an xarray DataArray, a lazy DataArray
    with the enlarged coordinates, the dims and attrs, and the CRS and transform when rioxarray is
    installed (:mod:`napari_superres.labelled`)

    Examples
    --------
    >>> import numpy as np, napari_superres as nsr
    >>> big = nsr.upscale(np.zeros((600, 800), np.uint16), scale=2)
    >>> big.shape, big.dtype
    ((1200, 1600), dtype('uint16'))
    """
    da = image if is_data_array(image) else None
    if da is not None:  # xarray: the dims name the axes; coordinates and CRS follow the result
        axes = axes_of(da, axes)
        if out is not None and crs_of(da) is not None:
            raise SuperResError(
                "a georeferenced DataArray is written with result.rio.to_raster(...) (rioxarray), or give the "
                "GeoTIFF's path as the image; out= would not carry its CRS"
            )
        nodata = nodata_of(da) if nodata is None else nodata
        image = da.data
    src = open_input(image, axes)  # opened once: the plan and the writer use this
    options = UpscaleOptions(
        model=model,
        scale=scale,
        axes=axes,
        normalize=normalize,
        tile=tile,
        device=device,
        consistency=consistency,
        nodata=nodata,
        precision=precision,
        batch=batch,
        degradation=degradation,
    )
    if adapt is not None and adapt is not False:
        seconds = DEFAULT_SECONDS if adapt is True else adapt
        options = drain(adapt_for(src, options, seconds, out, overwrite), progress)
    if out is not None:
        return write(src, out, options, overwrite=overwrite, progress=progress, scheduler=scheduler)
    result, _ = build(src, options)
    if da is not None:
        info = {
            "model": str(getattr(model, "name", model)),
            "scale": scale,
            "degradation": str(degradation if degradation is not None else "the weights' own"),
        }
        return wrap(result, da, axes, float(scale), nodata, info)
    return result

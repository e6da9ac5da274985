import json

import numpy as np
import pytest
import torch

import napari_superres as nsr
from napari_superres.models import load_model
from napari_superres.training import iter_train, validate


@pytest.fixture
def scene(rng):
    """A synthetic texture with edges at many orientations: learnable structure."""
    yy, xx = np.mgrid[0:192, 0:192].astype(np.float64)
    img = 0.5 + 0.2 * np.sin(xx / 3.1 + yy / 5.3) + 0.15 * np.sign(np.sin(xx / 9 - yy / 7))
    img += 0.1 * np.cos(np.hypot(xx - 90, yy - 70) / 2.5)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def test_training_lowers_loss_and_saves_provenance(tmp_path, scene):
    out = tmp_path / "m.safetensors"
    msgs = list(
        iter_train(
            "espcn",
            [scene],
            2,
            steps=120,
            batch_size=8,
            patch_size=16,
            lr=3e-3,
            out=out,
            channel="raw",
            val_every=60,
            config={"features": [16, 8]},
        )
    )
    losses = [m["loss"] for m in msgs if m.get("loss") is not None]
    assert losses[-1] < losses[0]
    m = nsr.load_model(out)
    assert m.metadata["steps"] == "120" and m.metadata["arch"] == "espcn"
    assert float(m.metadata["val_psnr"]) > 0


def test_checkpoint_resume_gives_the_same_weights(tmp_path, scene):
    kw = dict(
        batch_size=4,
        patch_size=12,
        channel="raw",
        val_every=1000,
        config={"features": [8, 8]},
        checkpoint_every=5,
    )
    straight = list(iter_train("espcn", [scene], 2, steps=10, checkpoint=tmp_path / "a.ckpt", **kw))[-1][
        "model"
    ]
    ck = tmp_path / "b.ckpt"
    gen = iter_train("espcn", [scene], 2, steps=10, checkpoint=ck, **kw)
    for _msg in gen:  # interrupt after the step-5 checkpoint
        if ck.exists():
            break
    gen.close()
    resumed_msgs = list(iter_train("espcn", [scene], 2, steps=10, checkpoint=ck, **kw))
    assert "resumed" in resumed_msgs[0]["message"]
    resumed = resumed_msgs[-1]["model"]
    for (k, a), (_, b) in zip(straight.module.state_dict().items(), resumed.module.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_a_run_extended_with_more_steps_records_its_learning_rate_history(tmp_path, scene):
    """Resuming a finished run with a larger ``steps`` continues it (the cosine of the new setting, so
    the learning rate rises again); the saved weights say so, and asking for fewer steps than the
    checkpoint holds is a one-line error, not a silent no-op."""
    from napari_superres.models import read_metadata
    from napari_superres.training import schedule_text

    ck, out = tmp_path / "run.ckpt", tmp_path / "m.safetensors"
    kw = dict(batch_size=2, patch_size=8, channel="raw", val_every=1000, checkpoint=ck, out=out, lr=1e-3)
    kw["config"] = {"features": [8, 8]}
    list(iter_train("espcn", [scene], 2, steps=4, **kw))
    assert "schedule" not in read_metadata(out)  # one setting: learning_rate and steps say it all
    with pytest.raises(
        nsr.SuperResError, match="exists; choose another output, or to replace it: overwrite=True"
    ):
        list(iter_train("espcn", [scene], 2, steps=8, **kw))  # the finished weights are not lost
    kw["overwrite"] = True
    msgs = list(iter_train("espcn", [scene], 2, steps=8, **kw))
    assert "resumed" in msgs[0]["message"] and msgs[-1]["step"] == 8
    meta = read_metadata(out)
    assert meta["steps"] == "8"
    assert meta["schedule"] == (
        "steps 1-4: lr 0.001 cosine to 1% over 4 steps; "
        "steps 5-8: lr 0.001 cosine to 1% over 8 steps, resumed at step 4 with lr 0.00051"
    )
    with pytest.raises(nsr.SuperResError, match="at step 8, past steps=6"):
        list(iter_train("espcn", [scene], 2, steps=6, **kw))
    assert schedule_text([[0, None, None], [800, 3000, 5e-4]], 3000).startswith(
        "steps 1-800: a setting the checkpoint did not record; steps 801-3000"
    )


def test_fine_tuning_on_own_data_beats_the_generic_model(tmp_path, scene):
    generic = load_model("espcn", 2)
    planes = [scene[:160].astype(np.float32) / 255]
    held_out = [scene[160:].astype(np.float32) / 255]
    before = validate(generic, held_out, 2, torch.device("cpu"))
    tuned = nsr.train(
        data=[scene[:160]],
        scale=2,
        init="espcn",
        steps=150,
        batch_size=8,
        patch_size=16,
        lr=5e-4,
        channel="raw",
        val_data=[scene[160:]],
        val_every=1000,
    )
    after = validate(tuned, held_out, 2, torch.device("cpu"))
    assert planes and after > before + 0.3


def test_a_model_of_another_scale_gives_its_body_to_the_new_scale(scene):
    """init= the x2 edsr-lite weights file for x4 training: the layers that fit are copied, the tail starts
    afresh, the metadata says so, and it ends ahead of a network trained from scratch as long."""
    from napari_superres.models import weights_path

    x2 = load_model("edsr-lite", 2)
    kw = dict(steps=30, batch_size=8, patch_size=16, lr=5e-4, channel="raw", val_every=1000, seed=1)
    started = list(iter_train(data=[scene], scale=4, init=weights_path("edsr-lite", 2), **kw))[-1]
    scratch = list(iter_train("edsr-lite", [scene], 4, **kw))[-1]
    model = started["model"]
    assert model.scale == 4 and model.arch == "edsr"
    assert "x2 weights; new at x4" in model.metadata["init"]
    assert model.metadata["init_token"] == x2.token  # names the starting weights, wherever they are copied
    theirs, ours = x2.module.state_dict(), model.module.state_dict()
    copied = [k for k, v in theirs.items() if k in ours and v.shape == ours[k].shape]
    assert len(copied) > 0.8 * len(theirs)  # the whole body; only the upsampling tail is new
    assert started["val_psnr"] > scratch["val_psnr"] + 0.2  # measured: +0.45 dB
    with pytest.raises(nsr.SuperResError, match="no trained weights"):
        list(iter_train(data=[scene], scale=4, init="vdsr", **kw))
    with pytest.raises(nsr.SuperResError, match="fine-tune the network itself"):
        list(iter_train(data=[scene], scale=2, init="edsr-lite+x8", **kw))


def test_a_folder_of_lossless_webp_trains_on_the_same_luma_as_png(tmp_path, rng):
    from PIL import Image

    from napari_superres.training import load_images

    rgb = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    for fmt, kw in (("png", {}), ("webp", {"lossless": True, "quality": 100})):
        (tmp_path / fmt).mkdir()
        Image.fromarray(rgb).save(tmp_path / fmt / f"a.{fmt}", **kw)
    (webp,) = load_images(tmp_path / "webp")
    (png,) = load_images(tmp_path / "png")
    np.testing.assert_array_equal(webp, png)


def test_an_l2_fine_tune_reports_mean_squared_error_and_records_it(tmp_path, scene):
    """loss="l2" trains on the squared error PSNR measures: the progress reports it in those units
    (about the held-out MSE, where L1 would read ~20x larger), and the weights' metadata says so."""
    generic = load_model("espcn", 2)
    held_out = [scene[160:].astype(np.float32) / 255]
    before = validate(generic, held_out, 2, torch.device("cpu"))
    kw = dict(init="espcn", steps=150, batch_size=8, patch_size=16, lr=5e-4, channel="raw", val_every=1000)
    msgs = list(iter_train(data=[scene[:160]], scale=2, val_data=[scene[160:]], loss="l2", **kw))
    tuned = msgs[-1]["model"]
    after = validate(tuned, held_out, 2, torch.device("cpu"))
    assert after > before + 0.3
    val_mse = 10 ** (-after / 10)
    reported = [m["loss"] for m in msgs if m.get("loss") is not None][-1]
    assert val_mse / 4 < reported < val_mse * 4
    assert tuned.metadata["loss"] == "L2 (mean squared error)"
    with pytest.raises(nsr.SuperResError, match="unknown loss 'mse'; choose one of l1, l2"):
        list(iter_train(data=[scene], scale=2, loss="mse", **kw))
    # a checkpoint remembers its loss: resuming it with the other one is refused, not silently mixed
    ck = tmp_path / "l2.ckpt"
    short = {**kw, "steps": 4, "checkpoint_every": 2}
    list(iter_train(data=[scene], scale=2, loss="l2", checkpoint=ck, **short))
    with pytest.raises(nsr.SuperResError, match="trained with loss 'l2', not 'l1'; resume with that loss"):
        list(iter_train(data=[scene], scale=2, checkpoint=ck, **{**short, "steps": 6}))


def test_a_degradation_trained_model_records_it_and_learns_that_inverse(tmp_path):
    """Fine-tuned for binning: metadata says so, and on binned input (another part of the image)
    it beats the shipped model trained for bicubic (the mismatch a camera's binning makes)."""
    from napari_superres._sample_data import astronaut_rgb
    from napari_superres.degradation import parse_degradation
    from napari_superres.metrics import psnr, rgb_to_y, shave

    y = (rgb_to_y(astronaut_rgb()) / 255.0).astype(np.float32)
    train_part, test_part = y[:, : y.shape[1] // 2], y[:, y.shape[1] // 2 :]
    out = tmp_path / "b.safetensors"
    kw = dict(steps=150, batch_size=8, patch_size=24, lr=5e-4, channel="raw", val_every=1000, seed=3)
    model = list(iter_train("espcn", [train_part], 2, init="espcn", degradation="binning", out=out, **kw))[
        -1
    ]["model"]
    assert nsr.load_model(out).degradation == "binning"
    hr = torch.from_numpy(test_part.astype(np.float64))[None, None][..., : test_part.shape[0] // 2 * 2, :]
    lr = parse_degradation("binning").downsample(hr, 2).float()
    shipped = load_model("espcn", 2)
    scores = [
        psnr(shave(m(lr)[0, 0].double().numpy(), 4), shave(hr[0, 0].numpy(), 4), 1.0)
        for m in (model, shipped)
    ]
    assert scores[0] > scores[1] + 0.3


def test_noise_and_gain_augmentation_are_recorded(tmp_path, scene):
    out = tmp_path / "n.safetensors"
    kw = dict(
        steps=5, batch_size=4, patch_size=12, channel="raw", val_every=1000, config={"features": [8, 8]}
    )
    list(
        iter_train(
            "espcn",
            [scene],
            2,
            degradation=["gaussian:1.0", "gaussian:2.0"],
            noise="auto",
            gain=True,
            out=out,
            **kw,
        )
    )
    meta = nsr.load_model(out).metadata
    deg = json.loads(meta["degradation"])
    assert deg["kind"] == "gaussian" and deg["members"] == ["gaussian:1.0", "gaussian:2.0"]
    assert json.loads(meta["noise"])["poisson_peak"] and "gain_augmentation" in meta


def test_training_refuses_auto_and_unknown_degradations(scene):
    with pytest.raises(nsr.SuperResError, match="auto.*named degradation"):
        next(iter_train("espcn", [scene], 2, degradation="auto", steps=1))
    with pytest.raises(nsr.SuperResError, match="unknown degradation 'box'"):
        next(iter_train("espcn", [scene], 2, degradation="box", steps=1))


def test_training_shows_progress_from_its_first_step(scene, capsys):
    """train(progress=True) prints a line at once (step, loss, rate, time left), then the validation;
    a callable gets every progress message instead."""
    nsr.train("espcn", [scene], 2, steps=6, batch_size=2, patch_size=12, val_every=6, progress=True)
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("step 1/6") and "loss" in first and "left" in first, err
    assert "validation PSNR" in err and "done: 6 steps" in err
    got = []
    nsr.train("espcn", [scene], 2, steps=4, batch_size=2, patch_size=12, val_every=4, progress=got.append)
    assert [m["step"] for m in got][:1] == [1] and got[-1]["step"] == 4 and "val_psnr" in got[-1]
    assert capsys.readouterr().err == ""

"""`CookieEmbedder` keeps scikit-learn's estimator contract (in the spirit of
`sklearn.utils.estimator_checks`), and the method registry is what the config accepts."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cookie.config import AugmentConfig, MethodConfig, load_config
from cookie.errors import ConfigError
from cookie.methods import registry
from cookie.methods.settings import MethodSettings
from cookie.nn.augment import Augmentation
from cookie.training.embedder import CookieEmbedder, NotFitted
from tests.synthetic import SMALL_METHOD, make_dataset, write_config

SMALL = {k: v for k, v in SMALL_METHOD.items() if k != "name"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from cookie.dataset.dataset import load_dataset

    config, _ = make_dataset(tmp_path_factory.mktemp("est"), n=12, tasks=False)
    return load_dataset(config)


def test_clone_and_params_round_trip() -> None:
    model = CookieEmbedder(epochs=3)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert copy.epochs == 3
    params = model.get_params()
    assert set(params) == set(MethodConfig.model_fields) | {"augmentations", "encoders"}
    assert model.set_params(alpha=0.5, seed=7) is model
    assert (model.alpha, model.seed) == (0.5, 7)
    with pytest.raises(ValueError):
        model.set_params(no_such_setting=1)
    assert "epochs=3" in repr(CookieEmbedder(epochs=3))


def test_constructor_defaults_are_the_config_defaults() -> None:
    """One set of defaults: the estimator's signature, MethodConfig, MethodSettings; and the
    augmentation defaults of AugmentConfig and Augmentation."""
    signature = inspect.signature(CookieEmbedder.__init__).parameters
    for name, field in MethodConfig.model_fields.items():
        assert signature[name].default == field.default, name
    settings = {f.name: f.default for f in dataclasses.fields(MethodSettings)}
    assert settings == MethodConfig().model_dump()
    augment = {f.name: f.default for f in dataclasses.fields(Augmentation)}
    assert augment == AugmentConfig().model_dump()


def test_constructor_stores_parameters_unchanged() -> None:
    aug = {"v0": {"noise": 0.0}}
    model = CookieEmbedder(name="gfactorcl", lr=5.0, augmentations=aug)
    assert model.augmentations is aug and model.lr == 5.0  # nothing validated or copied yet


def test_not_fitted_error() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted"):
        CookieEmbedder().transform({})
    assert issubclass(NotFitted, NotFittedError)


def test_fit_returns_self_and_learned_state_ends_in_underscore(dataset) -> None:
    model = CookieEmbedder(**SMALL)
    assert model.fit(dataset) is model
    learned = [k for k in vars(model) if k.endswith("_")]
    assert {"objective_", "config_", "specs_", "view_names_"} <= set(learned)
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(clone(model), "objective_")  # clone copies parameters, never state
    emb = model.transform(dataset)
    assert emb.index.equals(dataset.region_ids) and emb.shape == (12, 8)


def test_the_dataset_config_never_changes_the_hyper_parameters(dataset) -> None:
    """The synthetic config asks for 8 dimensions; the estimator's own setting wins."""
    assert dataset.config.method.embedding_dim == 8
    model = CookieEmbedder(**{**SMALL, "embedding_dim": 6}).fit(dataset)
    assert model.transform(dataset).shape[1] == 6
    assert CookieEmbedder.from_config(dataset.config).embedding_dim == 8


def test_fit_accepts_region_indexed_frames(dataset) -> None:
    """SRAI's contract: a frame per view indexed by region_id; a region absent from one
    frame lacks that view. The same features give the same embeddings as the dataset."""
    frames = {n: v.to_frame() for n, v in dataset.views.items()}
    assert all(f.index.name == "region_id" for f in frames.values())
    model = CookieEmbedder(**SMALL)
    from_frames = model.fit(frames).transform(frames)
    from_dataset = clone(model).fit(dataset).transform(dataset)
    pd.testing.assert_frame_equal(from_frames, from_dataset)
    partial = dict(frames, v1=frames["v1"].iloc[:8])
    emb = CookieEmbedder(**SMALL).fit(partial).transform(partial)
    assert len(emb) == 12 and np.isfinite(emb.to_numpy()).all()


def test_frames_must_be_keyed_by_region_id() -> None:
    from cookie.errors import DataError

    frame = pd.DataFrame({"a": [1.0, 2.0]}, index=pd.Index([1, 2], name="id"))
    with pytest.raises(DataError, match="index must be named 'region_id'"):
        CookieEmbedder(**SMALL).fit({"v": frame, "w": frame})


def test_a_registered_method_is_accepted_by_a_config(tmp_path) -> None:
    """`register` adds a method: a config naming it loads, and it fits."""
    from cookie.dataset.dataset import load_dataset
    from cookie.methods.base import IntraOnly

    def build(specs, settings, **kwargs):
        return IntraOnly(specs, settings, **kwargs)

    config, cfg = make_dataset(tmp_path, n=10, tasks=False)
    cfg["method"]["name"] = "my_method"
    write_config(config, cfg)
    with pytest.raises(ConfigError, match="unknown method 'my_method'"):
        load_config(config)
    registry.register("my_method", build, "a test method")
    try:
        ds = load_dataset(load_config(config))
        emb = CookieEmbedder.from_config(ds.config).fit(ds).transform(ds)
        assert emb.shape == (10, 2 * ds.config.method.encoder_dim)
        assert "my_method" in registry.method_names()
    finally:
        registry.unregister("my_method")


def test_the_public_api() -> None:
    import cookie

    assert "CookieEmbedder" in cookie.__all__
    assert all(getattr(cookie, name) is not None for name in cookie.__all__)
    assert cookie.CookieEmbedder is CookieEmbedder and cookie.REGION_INDEX == "region_id"


def test_rows_of_a_read_only_array_are_copied_into_their_tensor() -> None:
    """A view read back from the cache or a memory map is read-only; its tensor must not share
    that memory (torch warns that writing to it is undefined), while a writable one does."""
    import warnings

    import numpy as np

    from cookie.training.embedder import _tensor

    frozen = np.arange(6, dtype=np.float32).reshape(3, 2)
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = _tensor(frozen[0:2])
    t[0, 0] = 9.0
    assert frozen[0, 0] == 0.0
    writable = np.zeros((2, 2), dtype=np.float32)
    _tensor(writable)[0, 0] = 1.0
    assert writable[0, 0] == 1.0

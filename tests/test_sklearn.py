"""The scikit-learn estimators in use: pipelines, search, frames, labels, weights, saving."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from nnforge.demos import example_spec
from nnforge.exceptions import DivergenceError
from nnforge.model import LayerSpec, Model
from nnforge.nn import InverseTimeDecay
from nnforge.sklearn import NNForgeClassifier, NNForgeRegressor

FAST = {"hidden_layer_sizes": (16,), "epochs": 40, "random_state": 0}


def _regression(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = 3.0 * X[:, 0] - 2.0 * X[:, 1] ** 2 + np.sin(2 * X[:, 2]) + 0.05 * rng.normal(size=n)
    return X, y


def _frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two numeric columns on very different scales and a city whose level shifts the target."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["oslo", "rome", "lima"], size=n)
    area = rng.uniform(30, 200, size=n)
    age = rng.uniform(0, 1, size=n)
    shift = pd.Series(city).map({"oslo": 2.0, "rome": 0.0, "lima": -2.0}).to_numpy()
    y = area / 50.0 - age + shift + 0.05 * rng.normal(size=n)
    return pd.DataFrame({"area": area, "age": age, "city": city}), y


def _column_pipeline(estimator) -> Pipeline:
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["area", "age"]),
            ("cat", OneHotEncoder(sparse_output=False), ["city"]),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("columns", columns), ("net", estimator)])


# -- composition -------------------------------------------------------------------------------


def test_pipeline_with_column_transformer_learns_the_category():
    X, y = _frame()
    pipe = _column_pipeline(NNForgeRegressor(**{**FAST, "epochs": 150})).fit(X[:240], y[:240])
    assert pipe.score(X[240:], y[240:]) > 0.95


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_set_output_frames_in_arrays_out(kind):
    X, y = _frame()
    pipe = _column_pipeline(NNForgeRegressor(**FAST)).set_output(transform=kind)
    pipe.fit(X, y)
    transformed = pipe.named_steps["columns"].transform(X)
    assert isinstance(transformed, pd.DataFrame if kind == "pandas" else pl.DataFrame)
    names = pipe.named_steps["net"].feature_names_in_
    assert list(names) == ["area", "age", "city_lima", "city_oslo", "city_rome"]
    pred = pipe.predict(X)
    assert isinstance(pred, np.ndarray)
    assert pred.shape == (len(X),)
    assert pred.dtype == np.float64
    # The same numbers as the NumPy path: frames change nothing but the names.
    plain = NNForgeRegressor(**FAST).fit(np.asarray(transformed), y)
    np.testing.assert_array_equal(plain.predict(np.asarray(transformed)), pred)


def test_polars_and_pandas_frames_give_names_and_check_them():
    X, y = _regression()
    frame = pl.DataFrame(X, schema=["a", "b", "c", "d"])
    est = NNForgeRegressor(**FAST).fit(frame, pl.Series("y", y))
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(est.predict(frame.to_pandas()), est.predict(frame))
    plain = NNForgeRegressor(**FAST).fit(X, y)
    np.testing.assert_array_equal(plain.predict(X), est.predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        est.predict(frame.select(["b", "a", "c", "d"]))


def test_grid_search_with_two_jobs_equals_one_job():
    X, y = _regression(200)
    grid = {"learning_rate": [1e-3, 1e-2]}  # small: most of the time is starting the workers
    results = []
    for jobs in (1, 2):
        search = GridSearchCV(NNForgeRegressor(**FAST), grid, cv=3, n_jobs=jobs).fit(X, y)
        results.append(search)
    one, two = results
    np.testing.assert_array_equal(
        one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"]
    )
    assert one.best_params_ == two.best_params_
    assert two.best_score_ > 0.8
    np.testing.assert_array_equal(one.predict(X), two.predict(X))


def test_clone_is_unfitted_and_refits_identically():
    X, y = _regression()
    est = NNForgeRegressor(**FAST).fit(X, y)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "network_")
    np.testing.assert_array_equal(copy.fit(X, y).predict(X), est.predict(X))


def test_random_state_fixes_the_result():
    X, y = _regression()
    a = NNForgeRegressor(**{**FAST, "dropout": 0.1}).fit(X, y).predict(X)
    b = NNForgeRegressor(**{**FAST, "dropout": 0.1}).fit(X, y).predict(X)
    c = NNForgeRegressor(**{**FAST, "dropout": 0.1, "random_state": 1}).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # None draws a new seed per fit (scikit-learn's convention), recorded in seed_.
    free = NNForgeRegressor(**{**FAST, "random_state": None}).fit(X, y)
    again = NNForgeRegressor(**{**FAST, "random_state": free.seed_}).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), free.predict(X))


# -- targets, labels, weights ------------------------------------------------------------------


def test_multi_output_regression():
    X, y = _regression()
    Y = np.column_stack([y, -0.5 * y + X[:, 3]])
    est = NNForgeRegressor(**{**FAST, "epochs": 100, "learning_rate": 0.01}).fit(X, Y)
    pred = est.predict(X)
    assert pred.shape == (len(X), 2)
    assert est.n_outputs_ == 2
    for k in range(2):
        assert np.corrcoef(pred[:, k], Y[:, k])[0, 1] > 0.97
    assert est.score(X, Y) > 0.9


def test_string_labels_binary_and_multiclass_heads():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    three = np.array(["cat", "dog", "emu"])[np.argmax(X, axis=1)]
    clf = NNForgeClassifier(**{**FAST, "epochs": 80}).fit(X, three)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert clf.network_.loss.name == "categorical_crossentropy"
    assert clf.network_.layers[-1].activation.name == "softmax"
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.score(X, three) > 0.9

    two = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    bin_clf = NNForgeClassifier(**FAST).fit(X, two)
    assert bin_clf.network_.loss.name == "binary_crossentropy"
    assert bin_clf.network_.n_outputs == 1
    proba = bin_clf.predict_proba(X)
    assert proba.shape == (300, 2)
    np.testing.assert_array_equal(bin_clf.predict(X), bin_clf.classes_[proba.argmax(axis=1)])
    assert bin_clf.score(X, two) > 0.9
    with pytest.raises(ValueError, match="not in classes_"):
        bin_clf.set_params(warm_start=True).fit(X, np.where(two == "yes", "yes", "maybe"))


def test_sample_weight_zero_removes_the_rows_influence():
    # Half the rows say y = x, the other half y = -x; weights pick which half is learned.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(400, 1))
    y = np.where(np.arange(400) < 200, x[:, 0], -x[:, 0])
    w = (np.arange(400) < 200).astype(float)
    params = {**FAST, "epochs": 100, "learning_rate": 0.01}
    est = NNForgeRegressor(**params).fit(x, y, sample_weight=w)
    grid = np.linspace(-0.9, 0.9, 19)[:, None]
    assert mean_absolute_error(grid[:, 0], est.predict(grid)) < 0.05
    flipped = NNForgeRegressor(**params).fit(x, y, sample_weight=1 - w)
    assert mean_absolute_error(-grid[:, 0], flipped.predict(grid)) < 0.05


def test_standardize_makes_unscaled_columns_trainable():
    X, y = _frame()
    X = pd.get_dummies(X, dtype=float).to_numpy()  # area in 30..200, the rest 0..1
    y = y * 1e4  # a target in the tens of thousands
    scaled = NNForgeRegressor(**{**FAST, "epochs": 100}).fit(X, y)
    raw = NNForgeRegressor(**{**FAST, "epochs": 100, "standardize": False}).fit(X, y)
    assert scaled.score(X, y) > 0.95
    assert raw.score(X, y) < 0.5
    np.testing.assert_allclose(scaled.y_mean_, [y.mean()])
    np.testing.assert_array_equal(raw.x_mean_, np.zeros(X.shape[1]))


# -- training modes ----------------------------------------------------------------------------


def test_warm_start_continues_where_the_last_fit_stopped():
    X, y = _regression()
    est = NNForgeRegressor(**{**FAST, "epochs": 20, "warm_start": True}).fit(X, y)
    first = list(est.loss_curve_)
    est.fit(X, y)
    assert est.n_iter_ == 40
    assert len(est.loss_curve_) == 40
    assert est.loss_curve_[:20] == first
    # The second fit starts near the first fit's last loss, not at a fresh network's first.
    assert est.loss_curve_[20] < 1.5 * first[-1] < first[0]
    cold = clone(est).set_params(warm_start=False).fit(X, y).fit(X, y)
    assert cold.n_iter_ == 20


def test_partial_fit_is_one_epoch_and_needs_classes_first():
    X, y = _regression()
    est = NNForgeRegressor(**FAST)
    for _ in range(5):
        est.partial_fit(X, y)
    assert est.n_iter_ == 5
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    labels = (y > 0).astype(int)
    clf = NNForgeClassifier(**FAST)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, labels)
    clf.partial_fit(X[:50], labels[:50], classes=[0, 1])
    clf.partial_fit(X[50:], labels[50:])
    assert list(clf.classes_) == [0, 1]
    assert clf.n_iter_ == 2


def test_pickle_keeps_the_optimizer_state():
    X, y = _regression()
    est = NNForgeRegressor(**FAST)
    est.partial_fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    # Adam's moments and step count travel too: the next epoch is the same in both.
    est.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    # The layers are views into the restored flat buffer (training moved them).
    assert np.shares_memory(copy.network_.layers[0].kernel, copy.network_.params)


def test_early_stopping_scores_and_restores_the_best_epoch():
    X, y = _regression(400)
    est = NNForgeRegressor(
        **{**FAST, "epochs": 300, "early_stopping": True, "patience": 5, "learning_rate": 0.02}
    ).fit(X, y)
    assert est.n_iter_ < 300
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ > 0.9
    # The kept parameters are the best epoch's: their R² on the split-off rows is its score.
    valid = np.sort(np.random.default_rng(est._seed(2, 0)).permutation(400)[:40])
    assert est.score(X[valid], y[valid]) == pytest.approx(est.best_validation_score_, abs=1e-6)
    assert est.best_validation_score_ == max(est.validation_scores_)  # holds on this easy problem
    # Classifier: the scores are accuracies on the 40 validation rows (multiples of 1/40).
    labels = (y > np.median(y)).astype(int)
    clf = NNForgeClassifier(
        **{**FAST, "early_stopping": True, "validation_fraction": 0.1, "learning_rate": 0.01}
    )
    scores = np.array(clf.fit(X, labels).validation_scores_)
    np.testing.assert_allclose(scores * 40, np.round(scores * 40), atol=1e-9)
    assert 0.8 < scores.max() <= 1.0


def test_divergence_is_reported():
    X, y = _regression()
    est = NNForgeRegressor(
        **{**FAST, "optimizer": "sgd", "learning_rate": 50.0, "standardize": False}
    )
    with pytest.raises(DivergenceError, match="non-finite at epoch"):
        est.fit(X * 1e3, y * 1e3)


def test_bad_hyperparameters_name_the_argument():
    X, y = _regression(50)
    with pytest.raises(ValueError, match="optimizer"):
        NNForgeRegressor(optimizer="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        NNForgeRegressor(hidden_layer_sizes=(0,)).fit(X, y)
    with pytest.raises(ValueError, match="dropout"):
        NNForgeRegressor(hidden_layer_sizes=(4, 4), dropout=(0.1, 0.1)).fit(X, y)


# -- specs and saving ----------------------------------------------------------------------------


def test_spec_round_trip_and_same_network():
    est = NNForgeRegressor(
        hidden_layer_sizes=(12, "inputs+1"),
        activation="tanh",
        optimizer="momentum",
        learning_rate=InverseTimeDecay(0.01, decay_steps=100, decay_rate=0.5),
        momentum=0.8,
        weight_decay=1e-4,
        dropout=0.1,
        batch_size=32,
        epochs=7,
        early_stopping=True,
        patience=3,
        dtype="float64",
        random_state=3,
    )
    spec = est.to_spec()
    assert spec.optimizer["name"] == "momentum"
    assert spec.optimizer["momentum"] == 0.8
    assert spec.optimizer["learning_rate"]["decay_steps"] == 100
    assert [layer.dropout for layer in spec.layers] == [0.0, 0.1, 0.1]
    assert spec.early_stopping.patience == 3
    assert spec.seed == 3
    assert spec.epochs == 7
    back = NNForgeRegressor.from_spec(spec)
    assert back.to_spec() == spec
    # The schedule comes back as its config dict; every other argument as given.
    assert back.learning_rate == est.learning_rate.get_config()
    assert {**back.get_params(), "learning_rate": None} == {
        **est.get_params(),
        "learning_rate": None,
    }
    assert Model.from_json(spec.to_json()) == spec
    # The estimator's network is the one the spec builds.
    X, y = _regression(60)
    est.fit(X, y)
    assert est.network_.get_config()["layers"] == spec.build_network(4).get_config()["layers"]


def test_from_spec_of_the_king_county_spec():
    spec = Model.from_json_file(example_spec("king-county"))
    est = NNForgeRegressor.from_spec(spec, epochs=3)
    assert est.hidden_layer_sizes == ("inputs+1",) * 8
    assert est.batch_size == spec.batch_size
    assert est.epochs == 3
    assert est.learning_rate == spec.optimizer["learning_rate"]
    assert est.weight_decay == spec.optimizer["weight_decay"] == 1e-5
    assert est.to_spec().layers == [*spec.layers[:-1], spec.layers[-1]]
    layers = [LayerSpec(units=4, optimizer="adam"), LayerSpec(units=1, activation="linear")]
    with pytest.raises(ValueError, match="own optimizer"):
        NNForgeRegressor.from_spec(spec.model_copy(update={"layers": layers}))
    with pytest.raises(ValueError, match="linear output"):
        NNForgeRegressor.from_spec(spec.model_copy(update={"loss": "binary_crossentropy"}))


def test_save_load_without_pickle(tmp_path):
    X, y = _frame()
    X = pd.get_dummies(X, dtype=float)
    labels = np.where(y > 1, "high", "low")
    clf = NNForgeClassifier(**FAST).fit(X, labels)
    base = clf.save(tmp_path / "clf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf.json", "clf.safetensors"]
    doc = json.loads((tmp_path / "clf.json").read_text())
    assert doc["format"] == "nnforge.sklearn/1"
    assert doc["estimator"] == "NNForgeClassifier"
    back = NNForgeClassifier.load(base)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert list(back.feature_names_in_) == list(X.columns)
    assert back.get_params() == clf.get_params()
    reg = NNForgeRegressor(**FAST).fit(X, np.column_stack([y, y]))
    loaded = NNForgeRegressor.load(reg.save(tmp_path / "reg.json"))
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.predict(X).shape == (len(X), 2)
    with pytest.raises(ValueError, match="not a saved NNForgeRegressor"):
        NNForgeRegressor.load(tmp_path / "clf")
    reg.network_.save(tmp_path / "plain")
    with pytest.raises(ValueError, match="not a saved"):
        NNForgeRegressor.load(tmp_path / "plain")


def test_cross_val_score_and_permutation_importance():
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import cross_val_score

    X, y = _regression()  # column 3 is noise
    est = NNForgeRegressor(**{**FAST, "learning_rate": 0.01})
    assert cross_val_score(est, X, y, cv=3).min() > 0.8
    result = permutation_importance(est.fit(X, y), X, y, n_repeats=3, random_state=0)
    importance = result.importances_mean
    assert importance[0] > importance[2] > importance[3]
    assert importance[1] > importance[3]


def test_a_failed_refit_leaves_the_estimator_unfitted():
    from sklearn.exceptions import NotFittedError

    X, y = _regression(60)
    est = NNForgeRegressor(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="optimizer"):
        est.set_params(optimizer="lbfgs").fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)


@pytest.mark.parametrize("estimator", [NNForgeRegressor, NNForgeClassifier])
def test_jax_backend_trains_the_same_network(estimator):
    """backend="jax" compiles the same spec: float64 predictions equal NumPy's to 1e-9."""
    X, y = _regression(120)
    if estimator is NNForgeClassifier:
        y = np.where(y > np.median(y), "high", "low")
    params = {**FAST, "epochs": 3, "dtype": "float64", "batch_size": 32}
    ref = estimator(**params).fit(X, y)
    jax = estimator(**params, backend="jax").fit(X, y)
    assert jax.to_spec().backend == "jax"
    assert estimator.from_spec(jax.to_spec()).backend == "jax"
    np.testing.assert_allclose(jax.loss_curve_, ref.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(jax.network_.params, ref.network_.params, rtol=1e-9, atol=1e-12)
    out = "predict_proba" if estimator is NNForgeClassifier else "predict"
    np.testing.assert_allclose(getattr(jax, out)(X), getattr(ref, out)(X), rtol=1e-9)


def test_partial_fit_continues_with_jax_as_with_numpy():
    """The JAX runner starts from the estimator's optimizer state and hands it back."""
    X, y = _regression(120)
    params = {**FAST, "dtype": "float64", "batch_size": 32, "random_state": 0}
    ref = NNForgeRegressor(**params)
    mixed = NNForgeRegressor(**params)
    for backend in ("numpy", "jax", "jax", "numpy"):
        ref.partial_fit(X, y)
        mixed.set_params(backend=backend).partial_fit(X, y)
    np.testing.assert_allclose(mixed.network_.params, ref.network_.params, rtol=1e-9, atol=1e-12)
    iterations = [[o.iterations for o in e.network_.optimizers] for e in (mixed, ref)]
    assert iterations[0] == iterations[1]
    assert iterations[0][0] > 0


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="backend"):
        NNForgeRegressor(**FAST, backend="torch").fit(*_regression(50))

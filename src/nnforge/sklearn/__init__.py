"""scikit-learn estimators over the nnforge engine: ``NNForgeRegressor`` and ``NNForgeClassifier``.

The spec and the CLI stay the main way in; these estimators are the other door, for pipelines,
``ColumnTransformer``, ``GridSearchCV``, ``cross_val_score`` or ``permutation_importance``. They
train with the spec path's own machinery: the hyperparameters become a :class:`~nnforge.model.Model`
(:meth:`to_spec`), which builds the engine network, and the epoch loop is
:func:`nnforge.training.loop.train_replicas` (one replica). scikit-learn is an optional extra
(``pip install 'nnforge[sklearn]'``) imported only here: the shared machinery is in
:mod:`nnforge.sklearn._base`, the two estimators in :mod:`nnforge.sklearn._estimators`.

Inputs are standardised internally by default (``standardize=True``): each input column, and each
regression target, is z-scored with statistics learned (sample-weighted) on the rows of the first
``fit`` (or the first ``partial_fit`` batch), and predictions are mapped back. Networks train
badly on unscaled columns (a price in dollars next to a ratio), so this is on unless the inputs
are already scaled in a pipeline. Constant columns are centred only.

Examples
--------
>>> from sklearn.datasets import make_regression
>>> from nnforge.sklearn import NNForgeRegressor
>>> X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
>>> est = NNForgeRegressor(hidden_layer_sizes=(32,), epochs=50, random_state=0).fit(X, y)
>>> est.score(X, y) > 0.9
True
"""

try:  # the optional extra, checked once for every module of this package
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    msg = "nnforge.sklearn needs scikit-learn: pip install 'nnforge[sklearn]'"
    raise ImportError(msg) from exc

from nnforge.sklearn._estimators import NNForgeClassifier, NNForgeRegressor

__all__ = ["NNForgeClassifier", "NNForgeRegressor"]

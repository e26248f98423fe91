"""Estimator wrappers the project supports, shipped in the image so that a pickle using them
unpickles in the function (imported only when scikit-learn serves such a model)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone


class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A classifier fitted on integer codes of the class ids, answering with the ids.

    The service names each answer by its class id, a string; some classifiers' scikit-learn
    interfaces take integer labels only (XGBoost's `XGBClassifier` refuses strings). This
    encodes the ids in sorted order for `fit` and exposes them as `classes_`, in the column
    order of `predict_proba`:

        LabelEncodedClassifier(XGBClassifier(n_jobs=1)).fit(x_train, advice_ids)
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelEncodedClassifier:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(X, codes, **fit_params)
        self.n_features_in_ = self.estimator_.n_features_in_
        names = getattr(self.estimator_, "feature_names_in_", None)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        probabilities: np.ndarray = self.estimator_.predict_proba(X)
        return probabilities

    def predict(self, X: Any) -> np.ndarray:
        labels: np.ndarray = self.classes_[self.predict_proba(X).argmax(axis=1)]
        return labels

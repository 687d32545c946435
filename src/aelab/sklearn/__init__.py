"""scikit-learn estimators over `aelab.fit`: they follow scikit-learn's conventions (parameters stored by the
constructor, `get_params` / `set_params`, `clone`, fitted attributes ending in "_") and work in a `Pipeline` or a
`GridSearchCV`. Each fit trains a run with aelab's trainer; a fitted estimator pickles its model as safetensors
bytes and JSON.

    from aelab.sklearn import AutoencoderTransformer
    codes = AutoencoderTransformer(latent_dim=8).fit_transform(X)
"""

from .estimators import AutoencoderTransformer, DenoisingTransformer, SemanticHasher, VAETransformer

__all__ = ["AutoencoderTransformer", "DenoisingTransformer", "SemanticHasher", "VAETransformer"]

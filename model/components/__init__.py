"""A model's own code: what its pickle refers to beyond the libraries (a custom transformer, a
function given to a FunctionTransformer, a wrapper class).

Code here ships in the image (the Dockerfile copies model/components/), so an estimator that
uses it unpickles in the function as it does in the training script. save_model refuses a pickle
that refers to code anywhere else in the project, or in the training script itself: Python
pickles a function or class by its module path, and only this folder and chalicelib/ reach the
image. Import it as `model.components.<module>`, the path the pickle records.
"""

"""practical3: U-Net segmentation of lungs and COVID-19 infection in COVID-QU-Ex chest X-rays.

Importing the package is cheap and side-effect free: no Kaggle client, no torch.
"""

__version__ = "0.1.0"

"""aupimo-cli: exact, fast evaluation of anomaly localization (pixel AUROC, AUPRO, per-image AUPIMO)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aupimo-cli")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

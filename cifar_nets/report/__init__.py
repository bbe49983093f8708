"""The report: the figure registry, the plots, the study's and the tuning's sections and the HTML
page with its template. Reads the study's tables; trains nothing.
"""
from cifar_nets._moved import forward as _forward

__getattr__ = _forward(__name__, "cifar_nets.report.html")   # cifar_nets.report.X: X of html, one release

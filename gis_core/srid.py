"""Spatial reference identifiers (EPSG codes) used across the platform.

Geometry is stored in WGS84 (EPSG:4326, lon/lat order); every metric
computation (areas, distances, buffers, sectors) is done in CGCS2000 /
3-degree Gauss-Kruger CM 120E (EPSG:4549, metres).
"""

WGS84 = 4326
CGCS2000 = 4490
CGCS2000_GK_CM120 = 4549
METRIC_SRID = CGCS2000_GK_CM120
STORAGE_SRID = WGS84
WEB_MERCATOR = 3857

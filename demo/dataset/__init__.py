"""Deterministic generator of the illustrative Gongdao (公道镇) demo data set.

The real inputs (names, statistical codes, the town seat, the district outline) are read from
``data/boundaries/gongdao/source/``; everything drawn from them (town, village and grid polygons,
cameras, people, teams) is illustrative. Stored geometry is EPSG:4326 (lon/lat); metric work is done
in EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E). Entry point: ``demo.dataset.generator.generate``.
"""

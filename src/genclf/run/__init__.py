"""The main job, ``genclf run``: the grid of cells (``experiment``, ``cells``), the data-derived plan
(``plan``), the run folder that owns every path (``folder``), the generator store strategies draw from
(``store``), and finished runs (``finished``: report, merge)."""

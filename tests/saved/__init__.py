"""Tests of digitclf.saved: what is done with a saved run (evaluate, predict, compare, grids)."""



"""The speed benchmarks: `rnnbench perf`, `speed-fused`, `speed-models` and `size` (and gpu_check.sh, every GPU
check in one pass). They measure the code users run and nothing that code imports comes from here."""

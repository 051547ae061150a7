"""Downstream of runs: reads only what runs wrote (run dirs), never the training code.

python -m analysis runs/            μ_t per D, μ_T per D for every T, D_opt(T)
"""

"""The figures (seaborn; PNG for reading, PDF for papers), each registered where it is
defined (`@figure(name)`, analysis/figures/canvas.py) and drawn by `draw` in this order:

    d_opt           D_opt(T) against T, shaded by P(D is the optimum)     (paper Fig. 3)
    trajectories    μ_t per D with the combined-std band                   (Fig. 4)
    mu_T            μ_T against D at the largest T every D reached         (Fig. 5b)
    distributions   per-block perplexities per t and D                     (App. E)
    protocols       D_opt(T) under the paper's fixed epochs and under equal steps, side by side
    regimes         D_opt(T) per data regime (replace, accumulate, …) side by side, and μ_t
                    against t at the smallest and largest D per regime
    exact           the synthetic world's exact measurements per t and D, and δ_EDQ
                    against the perplexity change it should predict        (beyond the paper)
    phase           D_opt(T) against D = 1's collapse rate, a column per condition, with two
                    references (SmolLM2-135M mini, the paper's OPT-125M); more than one
                    condition, or --phase
    lenses          the collapse fingerprint: per condition and D, each lens's move from
                    t = 0 toward collapse over t
    lens_panels     every lens against t per D and the cross-model matrices at the first
                    and last t (a single condition, or each with --lens-panels)

A panel per condition, titled by what differs between the conditions; what they share
is the figure's title. Past a figure's limit of conditions, one figure per group of
conditions, its files named after what the group shares (`d_opt-accumulate.png`).
"""

# importing a module registers its figures: the order here is the order drawn
from analysis.figures import paper  # noqa: F401

# isort: split
from analysis.figures import arms  # noqa: F401

# isort: split
from analysis.figures import phase  # noqa: F401

# isort: split
from analysis.figures import lenses  # noqa: F401

# isort: split
from analysis.figures.canvas import REGISTRY, Drawn, Options, draw

__all__ = ["REGISTRY", "Drawn", "Options", "draw"]

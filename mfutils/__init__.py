"""mfutils: the small JAX library behind *Mean-Field Theory of Shallow Neural Networks*.

Notation follows the book: particles theta_i = (a_i, w_i) (:class:`Params`), the network
f_N(x) = (1/N) sum_i a_i sigma(w_i . x), the risk R(mu), the first variation V_mu, and the
particle gradient flow d theta_i/dt = -grad V_{mu^N}(theta_i). Every runner is a step and an
observable on one time loop (:mod:`mfutils.loop`) and returns a :class:`Run`; the SGD escape
(:func:`sgd_escape`) has a loop of its own, of traced length.
"""
from . import _memory, datasets
from .activations import Activation, erf, hermite, hermite_basis, hermite_series, relu, tanh
from .chaos import (Coupled, gronwall_bound, interaction, interaction_jacobian, squared_distance,
                    synchronous_coupling, velocity_jacobian)
from .classifier import (Classifier, classifier_accuracy, classifier_output, classifier_risk,
                         classifier_sgd, init_classifier)
from .deep import (DeepParams, Sample, deep_flow, deep_network, deep_risk, init_deep,
                   layer_movement, top_singular_share)
from .dynamics import online_sgd, particle_flow, ss_sgd
from .error_ode import Twins, tangent_gap_flow, tangent_growth_rate
from .fluctuations import influence_function, influence_variance, noise_variance
from .langevin import free_energy, langevin_flow
from .loop import DivergenceError, Run
from .network import Params, Problem, Scaling, init_params, network, output_scale, target, time_scale
from .plotting import COLORS, SEQUENCE, panels, width_axis
from .population import first_variation, population_risk, velocity, velocity_field
from .single_index import (Escape, escape_time, hermite_coefficients, information_exponent,
                           overlap_drift, sgd_escape)
from .spherical import (Overlaps, mf_distance, mf_gap_flow, overlap_flow, overlap_init,
                        overlap_risk, overlap_velocity, sphere_flow, sphere_init, sphere_problem,
                        sphere_velocity)
from .stats import (Estimate, Fit, ScalingFit, knn_entropy, line_fit, mean_interval,
                    power_law_fit, scaling_fit, seed_variance, variance_interval, wasserstein1)
from .testbed import erf_testbed

__version__ = "0.2.0"

_memory.release_after_compiling()

__all__ = [
    "Activation", "erf", "tanh", "relu", "hermite", "hermite_series", "hermite_basis",
    "Params", "Problem", "Scaling", "init_params", "network", "target", "output_scale",
    "time_scale", "erf_testbed",
    "population_risk", "first_variation", "velocity", "velocity_field",
    "Run", "DivergenceError", "particle_flow", "online_sgd", "ss_sgd", "langevin_flow", "free_energy",
    "Coupled", "synchronous_coupling", "squared_distance", "velocity_jacobian", "interaction",
    "interaction_jacobian", "gronwall_bound",
    "influence_function", "influence_variance", "noise_variance",
    "Fit", "line_fit", "power_law_fit", "ScalingFit", "scaling_fit", "Estimate", "mean_interval",
    "variance_interval", "wasserstein1", "knn_entropy", "seed_variance",
    "DeepParams", "Sample", "init_deep", "deep_network", "deep_risk", "deep_flow", "layer_movement",
    "top_singular_share", "datasets",
    "Classifier", "init_classifier", "classifier_output", "classifier_risk", "classifier_accuracy",
    "classifier_sgd",
    "hermite_coefficients", "information_exponent", "overlap_drift", "escape_time", "Escape",
    "sgd_escape",
    "sphere_problem", "sphere_init", "sphere_velocity", "sphere_flow", "Overlaps", "overlap_init",
    "overlap_velocity", "overlap_risk", "overlap_flow", "mf_distance", "mf_gap_flow",
    "Twins", "tangent_gap_flow", "tangent_growth_rate",
    "panels", "width_axis", "COLORS", "SEQUENCE",
]

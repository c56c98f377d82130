"""mfutils: the small JAX library behind *Mean-Field Theory of Shallow Neural Networks*.

Notation follows the book: particles theta_i = (a_i, w_i) (:class:`Params`), the network
f_N(x) = (1/N) sum_i a_i sigma(w_i . x), the risk R(mu), the first variation V_mu, and the
particle gradient flow d theta_i/dt = -grad V_{mu^N}(theta_i).
"""
from .activations import Activation, erf, hermite, hermite_basis, hermite_series, relu, tanh
from .chaos import (Coupled, CouplingRun, gronwall_bound, interaction, interaction_jacobian,
                    mean_field_velocity, squared_distance, synchronous_coupling, velocity_jacobian)
from .dynamics import DivergenceError, Trajectory, online_sgd, particle_flow, ss_sgd
from .network import Params, Problem, Scaling, init_params, network, output_scale, target, time_scale
from .population import first_variation, population_risk, velocity, weighted_first_variation
from .fluctuations import Influence, influence_function, influence_variance, weighted_velocity
from .measures import wasserstein1_1d
from .stats import Estimate, LineFit, SlopeFit, line_fit, loglog_slope, variance_interval
from .single_index import (SGDEscape, escape_time, hermite_coefficients, information_exponent,
                           overlap_drift, sgd_escape)
from .spherical import (GapRun, SphereRun, mf_distance, mf_gap_flow, overlap_flow, overlap_init, overlap_risk,
                        overlap_velocity, sphere_flow, sphere_init, sphere_moments, sphere_risk,
                        sphere_velocity)
from .testbed import erf_testbed

__version__ = "0.1.0"

__all__ = [
    "Activation", "erf", "tanh", "relu", "hermite", "hermite_series", "hermite_basis",
    "Params", "Problem", "Scaling", "init_params", "network", "target", "output_scale", "time_scale",
    "population_risk", "first_variation", "weighted_first_variation", "velocity",
    "Trajectory", "DivergenceError", "particle_flow", "online_sgd", "ss_sgd",
    "Coupled", "CouplingRun", "synchronous_coupling", "squared_distance", "mean_field_velocity",
    "velocity_jacobian", "interaction", "interaction_jacobian", "gronwall_bound",
    "Influence", "weighted_velocity", "influence_function", "influence_variance",
    "LineFit", "line_fit", "SlopeFit", "loglog_slope", "Estimate", "variance_interval", "wasserstein1_1d", "erf_testbed",
    "hermite_coefficients", "information_exponent", "overlap_drift", "escape_time", "SGDEscape",
    "sgd_escape", "sphere_init", "sphere_risk", "sphere_velocity", "sphere_flow", "SphereRun",
    "overlap_init", "sphere_moments", "overlap_velocity", "overlap_risk", "overlap_flow",
    "mf_distance", "GapRun", "mf_gap_flow",
]

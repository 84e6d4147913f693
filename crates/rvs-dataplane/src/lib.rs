//! rvs-dataplane: packet I/O backends, steering, neighbour resolution, workers.

"""The simulated site (hardware in the loop): plants, emulated PLCs, protocol servers."""

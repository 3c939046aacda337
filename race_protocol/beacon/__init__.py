"""The randomness beacon's rules (whitepaper Appendix B), shared by the chain and the agent.

Commit-reveal with a timed reveal, backed by publicly verifiable secret sharing so a
threshold of the other participants recovers any contribution whose owner withholds it.
Pure: libsodium (through PyNaCl) for every group and scalar operation, hashlib for hashes,
no state store and no I/O. docs/beacon.md walks through the protocol.

* :mod:`~race_protocol.beacon.group`  the prime-order group and scalar field
* :mod:`~race_protocol.beacon.proofs` DLEQ and Schnorr proofs
* :mod:`~race_protocol.beacon.shamir` polynomials and Lagrange interpolation
* :mod:`~race_protocol.beacon.pvss`   dealing, checking deals, reveals, recovery
* :mod:`~race_protocol.beacon.keys`   participants' encryption keys
* :mod:`~race_protocol.beacon.units`  weighted share units and the threshold
* :mod:`~race_protocol.beacon.output` the round output, failed rounds, the genesis value
"""

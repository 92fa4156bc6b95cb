"""Fully connected nets trained with the hinge loss (torch): data (:mod:`.data`), models
(:mod:`.models`), losses (:mod:`.losses`), optimisers (:mod:`.optim`), batched training
(:mod:`.train`), N* scans (:mod:`.transition`), the exact Hessian H0 + Hp and the nets' adapter
to the shared analysis (:mod:`.hessian`), mode diagnostics (:mod:`.diagnostics`), HDF5 records
(:mod:`.runs`) and the ``dlbridge train`` command (:mod:`.command`)."""

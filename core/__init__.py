"""The layer everything may use, importing nothing above it (neither ``demo`` nor
``lifter``): errors users read (:mod:`.errors`), atomic files and fingerprints
(:mod:`.files`), the torch runtime (:mod:`.runtime`: device, threads, precision), joint
tables and COCO -> Human3.6M (:mod:`.joints`, :mod:`.coco_to_h36m`), gap filling
(:mod:`.gaps`), frame states and track spans (:mod:`.frames`), streamed ``.npz`` files and
the row layout of results (:mod:`.npz`), weights files (:mod:`.weights`: the manifest,
named files, the checkpoints folder), safe checkpoint reading (:mod:`.checkpoint_io`),
downloads (:mod:`.download`) and the console of both command lines (:mod:`.console`).
core knows weights *files*, not which model families exist: listing every named weight
with the lifters' and 2D models' entries is :mod:`demo.weights`."""

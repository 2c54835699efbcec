"""The run's safety net, which the chapter never had: one owner of a run's faults
(:mod:`.supervisor`), stop signals (:mod:`.interrupts`, :mod:`.guard`), the backup a killed
run continues from (:mod:`.backup`), files written whole (:mod:`.atomic`, :mod:`.modelfile`),
folders checked and locked (:mod:`.folders`, :mod:`.lock`), standard streams that outlive
their reader (:mod:`.streams`), and a private temporary folder (:mod:`.tempfolder`). The
errors a user can fix, in one sentence, are :mod:`pyimagesearch.errors`."""

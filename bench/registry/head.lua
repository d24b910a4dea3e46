-- wrk issues GET unless told otherwise; the HEAD-blob workload needs HEAD.
wrk.method = "HEAD"

import time
def main():
    t0 = time.perf_counter()
    from flows.dask_cluster import local_cluster
    t1 = time.perf_counter()
    c = local_cluster(None, processes=True)
    t2 = time.perf_counter()
    n = len(c.workers)
    c.close(timeout=30)
    print(f"import {t1-t0:.2f}s, cluster of {n} workers (preloaded) ready after {t2-t1:.2f}s, close {time.perf_counter()-t2:.2f}s")
if __name__ == "__main__":
    main()

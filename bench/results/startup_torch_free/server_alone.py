import time, os
t0 = time.perf_counter()
from flows.prefect_server import TemporaryServer
t1 = time.perf_counter()
s = TemporaryServer(); s.start(); t2 = time.perf_counter(); s.wait_ready(); t3 = time.perf_counter(); s.stop(); t4 = time.perf_counter()
print(f"import {t1-t0:.2f}s, launch {t2-t1:.2f}s, ready after {t3-t2:.2f}s, stop {t4-t3:.2f}s; PREFECT_HOME={os.environ.get('PREFECT_HOME')}")

import sys

from mtl.devstack import process


def test_spawn_read_pid_terminate(tmp_path):
    pid_path = tmp_path / "p.pid"
    pid = process.spawn(
        [sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(60)"],
        log_path=tmp_path / "p.log",
        pid_path=pid_path,
    )
    assert process.read_pid(pid_path) == pid
    assert process.terminate(pid_path, timeout_s=5)
    assert process.read_pid(pid_path) is None
    assert not process.is_alive(pid)
    assert process.terminate(pid_path) is False  # second stop is a no-op


def test_exited_process_is_not_alive(tmp_path):
    pid_path = tmp_path / "p.pid"
    pid = process.spawn([sys.executable, "-c", "pass"], log_path=tmp_path / "p.log", pid_path=pid_path)
    import time

    deadline = time.monotonic() + 10
    while process.is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.read_pid(pid_path) is None


def test_free_port_is_free():
    port = process.free_port()
    assert not process.port_in_use(port)


def test_tail_of_missing_file_is_empty(tmp_path):
    assert process.tail(tmp_path / "none.log") == ""

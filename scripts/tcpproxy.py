"""A TCP proxy that can refuse connections for a while: how the tests and
scripts/chaos take S3 away without losing moto's in-memory state.

As a library: `Proxy(target_port)`, then `.down()` and `.restore()`; or
`.hold()`, which keeps every connection open but forwards nothing (a server
that stopped answering), `.held()` (bytes received since, not forwarded) and
`.release()`, which forwards them and goes on.
As a process: `python tcpproxy.py TARGET_PORT PORT_FILE`; it writes its own
port to PORT_FILE, SIGUSR1 takes the target away, SIGUSR2 brings it back.
"""
import signal
import socket
import sys
import threading
from pathlib import Path


class Proxy:
    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.up = True
        self.conns = []
        self.lock = threading.Lock()
        self.flowing = threading.Event()
        self.flowing.set()
        self.held_bytes = 0
        self.sock.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, a, b):
        try:
            while data := a.recv(65536):
                if not self.flowing.is_set():
                    with self.lock:
                        self.held_bytes += len(data)
                    self.flowing.wait()
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                for s in (a, b):
                    if s in self.conns:
                        self.conns.remove(s)
                        s.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if not self.up:
                c.close()
                continue
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    def down(self):
        """Refuses new connections and cuts the open ones."""
        self.up = False
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self):
        self.up = True

    def hold(self):
        """Forwards nothing from now on, in either direction, until `release()`."""
        with self.lock:
            self.held_bytes = 0
        self.flowing.clear()

    def held(self):
        """Bytes received since `hold()` and not forwarded."""
        with self.lock:
            return self.held_bytes

    def release(self):
        self.flowing.set()


def main():
    proxy = Proxy(int(sys.argv[1]))
    signal.signal(signal.SIGUSR1, lambda *_: proxy.down())
    signal.signal(signal.SIGUSR2, lambda *_: proxy.restore())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Path(sys.argv[2]).write_text(str(proxy.port))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()

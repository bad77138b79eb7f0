"""A relay between libvirt clients and a daemon's Unix socket that acts on one call.

``RpcGate(daemon_socket, gate_socket, procedure, on_call)`` listens on
``gate_socket`` and relays every byte both ways. When a client sends a call
of libvirt's remote program with procedure number ``procedure`` (e.g.
:data:`DOMAIN_SUSPEND`), it runs ``on_call()`` first (for instance
``PrivateDaemon.pause``, so that the daemon hangs on exactly that call),
then relays the call and sets :attr:`reached`. Clients reach the daemon
through it with ``test+unix:///default?socket=<gate_socket>``.

libvirt's RPC framing (libvirt's virnetprotocol.x): a 4-byte big-endian
length that counts itself, then program, version, procedure, type, serial
and status, 4 bytes each.
"""

import socket
import struct
import threading

REMOTE_PROGRAM = 0x20008086
DOMAIN_SUSPEND = 34      # REMOTE_PROC_DOMAIN_SUSPEND in libvirt's remote_protocol.x


class RpcGate:
    def __init__(self, daemon_socket, gate_socket, procedure, on_call):
        self.daemon_socket = str(daemon_socket)
        self.path = str(gate_socket)
        self.procedure = procedure
        self.on_call = on_call
        self.reached = threading.Event()
        self.procedures = []    # every call seen, in order
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.sockets = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def uri(self, path="/default"):
        return f"test+unix://{path}?socket={self.path}"

    def close(self):
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            daemon.connect(self.daemon_socket)
            self.sockets += [client, daemon]
            threading.Thread(target=self._calls, args=(client, daemon), daemon=True).start()
            threading.Thread(target=self._replies, args=(daemon, client), daemon=True).start()

    @staticmethod
    def _read(sock, size):
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _calls(self, source, target):
        try:
            while True:
                length = self._read(source, 4)
                body = self._read(source, struct.unpack(">I", length)[0] - 4)
                program, _, procedure = struct.unpack(">III", body[:12])
                if program == REMOTE_PROGRAM:
                    self.procedures.append(procedure)
                    if procedure == self.procedure and not self.reached.is_set():
                        self.on_call()
                        target.sendall(length + body)
                        self.reached.set()
                        continue
                target.sendall(length + body)
        except (EOFError, OSError):
            target.close()

    @staticmethod
    def _replies(source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        target.close()

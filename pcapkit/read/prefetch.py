"""A hint to the CPU to fetch a record's bytes into its cache ahead of their decoding.

A busy node's capture is gigabytes: the kernel finds each packet's headers in memory, not in
the CPU's cache, and its work on a packet waited ~100 ns a cache line for them (a tunnelled
TCP packet's headers span two or three). The records' offsets are known before the loop
starts, so the kernel asks for the lines of a record a few ahead (`AHEAD`) while it decodes
this one: on 66k bulk TCP packets over VXLAN (~1 KB each) the decoding took 31.5 -> 25 ms;
small DNS packets, which the cache holds many of, decode as fast as before.

`prefetch` is LLVM's `llvm.prefetch` in compiled code (it never faults, even past the end of
the buffer) and does nothing as Python. numba learns it from `teach_numba()`, called before a
function using it is compiled: imported here, numba would cost every small capture's run the
~0.3 s of start-up it is kept out of (`pcapkit.read.walk`).
"""

from __future__ import annotations

from typing import Any

#: how many records ahead of the one decoded the kernel asks for (3 to 12 measured alike)
AHEAD = 8
#: the cache lines of a record asked for: a Linux cooked v2 header, an outer IPv4, UDP and
#: VXLAN header, an Ethernet, IPv4 and TCP header with options is ~120 bytes, over 2-3 lines
#: (two lines: 27 ms, three: 25)
LINES = 3
LINE = 64


def prefetch(buf: Any, at: Any) -> None:
    """Ask for the cache line of `buf[at]` (compiled); nothing (as Python)."""


_taught = False


def teach_numba() -> None:
    """Teach numba `prefetch`, once a process."""
    global _taught
    if _taught:
        return
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic, overload

    insert: Any = cgutils.get_or_insert_function

    def typed(typingctx: Any, buf: Any, at: Any) -> Any:
        """The hint's signature (nothing returned), and the code it compiles to."""
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            array = context.make_array(signature.args[0])(context, builder, args[0])
            byte = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = insert(builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]),
                        "llvm.prefetch.p0i8")
            address = builder.bitcast(builder.gep(array.data, [args[1]]), byte)
            # a read (0), kept in every cache level (locality 3), of data (1)
            builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3),
                              ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(buf, at), codegen

    hint: Any = intrinsic(typed)

    @overload(prefetch, jit_options={"nogil": True})
    def _compiled(buf: Any, at: Any) -> Any:
        def compiled_prefetch(buf: Any, at: Any) -> None:
            hint(buf, at)

        return compiled_prefetch

    _taught = True

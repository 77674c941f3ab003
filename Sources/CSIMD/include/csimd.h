#ifndef SAMDG_CSIMD_H
#define SAMDG_CSIMD_H
/* The two x86 instructions Swift's SIMD types cannot express: a non-temporal (streaming) vector
 * store and the store fence that orders it. Kernels use them for results much larger than the
 * caches, where a normal store would first read each destination line (write-allocate). */
typedef float samdg_float16 __attribute__((ext_vector_type(16)));

/* p must be 64-byte aligned. */
static inline __attribute__((always_inline)) void samdg_stream16(float *p, samdg_float16 v) {
    __builtin_nontemporal_store(v, (samdg_float16 *)p);
}

static inline __attribute__((always_inline)) void samdg_store_fence(void) {
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}
#endif

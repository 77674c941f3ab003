#include <hdf5.h>

// HDF5's predefined ids (H5P_DEFAULT, H5T_NATIVE_FLOAT, H5F_ACC_RDONLY, ...) are C macros that
// expand to casts, globals behind H5open(), or comma expressions, none of which import into
// Swift. These helpers return them as plain values.

static inline hid_t samdg_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t samdg_h5s_all(void) { return H5S_ALL; }
static inline hid_t samdg_h5e_default(void) { return H5E_DEFAULT; }
static inline size_t samdg_h5t_variable(void) { return H5T_VARIABLE; }

static inline unsigned samdg_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned samdg_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned samdg_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned samdg_h5f_acc_excl(void) { return H5F_ACC_EXCL; }

static inline hid_t samdg_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t samdg_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t samdg_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t samdg_h5p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t samdg_h5p_file_create(void) { return H5P_FILE_CREATE; }

// Memory (native) types.
static inline hid_t samdg_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t samdg_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t samdg_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t samdg_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }

// File (standard, little-endian) types, as h5py writes them.
static inline hid_t samdg_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t samdg_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t samdg_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t samdg_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t samdg_h5t_c_s1(void) { return H5T_C_S1; }

static inline H5F_libver_t samdg_h5f_libver_latest(void) { return H5F_LIBVER_LATEST; }
// Open objects (not files) reached through one file id.
static inline unsigned samdg_h5f_obj_local_objects(void) {
    return H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL;
}

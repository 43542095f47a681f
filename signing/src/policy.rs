//! Verification policy: rules matched by image-reference pattern and the signers each requires.

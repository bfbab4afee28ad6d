"""Beyond Accuracy Explorer: entry point. Only routes; each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="Beyond Accuracy Explorer", page_icon=":material/visibility:", layout="wide")

navigation = st.navigation(
    {
        "": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)],
        "Explore": [st.Page("pages/compare.py", title="Compare models", icon=":material/compare:",
                            url_path="compare")],
    }
)
navigation.run()

"""Beyond Accuracy Explorer: entry point. Only routes; each page lives in views/.

Pages live in `views/`, not `pages/`: with a `pages/` folder beside the entry point, Streamlit (1.67)
serves a first request for /compare through its legacy folder-based navigation, skipping this file.
"""

import streamlit as st

from views import _state

st.set_page_config(page_title="Beyond Accuracy Explorer", page_icon=":material/visibility:", layout="wide")

navigation = st.navigation(
    {
        "": [st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
             st.Page("views/findings.py", title="Findings", icon=":material/fact_check:", url_path="findings")],
        "Explore": [st.Page("views/compare.py", title="Compare models", icon=":material/compare:",
                            url_path="compare"),
                    st.Page("views/evaluations.py", title="Evaluations", icon=":material/database:",
                            url_path="evaluations"),
                    st.Page("views/task.py", title="Your task", icon=":material/category:", url_path="task")],
        "Analyses": [st.Page("views/mistakes.py", title="Mistakes (ImageNet-X)", icon=":material/error:",
                             url_path="mistakes"),
                     st.Page("views/shape_texture.py", title="Shape vs texture", icon=":material/texture:",
                             url_path="shape-texture"),
                     st.Page("views/calibration.py", title="Calibration", icon=":material/speed:",
                             url_path="calibration"),
                     st.Page("views/robustness.py", title="Robustness", icon=":material/shield:",
                             url_path="robustness"),
                     st.Page("views/pug.py", title="Synthetic data (PUG)", icon=":material/view_in_ar:",
                             url_path="pug"),
                     st.Page("views/invariance.py", title="Invariance", icon=":material/zoom_in:",
                             url_path="invariance"),
                     st.Page("views/transfer.py", title="Transferability", icon=":material/move_down:",
                             url_path="transfer")],
    }
)
_state.new_run()
navigation.run()
